// The node agent of the vxlan cluster mode; see Cni.Agent.AgentMain.
var log = TextWriter.Synchronized(new StreamWriter(Console.OpenStandardError()) { AutoFlush = true });
return Cni.Agent.AgentMain.Main(args, log);
