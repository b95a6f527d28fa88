return Cni.Plugins.InProcessIpam.Main(new Cni.Plugins.Bridge.BridgePlugin());
