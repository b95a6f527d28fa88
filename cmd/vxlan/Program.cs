return Cni.Plugins.InProcessIpam.Main(new Cni.Plugins.Vxlan.VxlanPlugin());
