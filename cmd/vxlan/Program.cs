return Cni.Spec.Dispatcher.Main(new Cni.Plugins.Vxlan.VxlanPlugin());
