return Cni.Plugins.InProcessIpam.Main(new Cni.Plugins.Macvlan.MacvlanPlugin());
