return Cni.Spec.Dispatcher.Main(new Cni.Plugins.Portmap.PortmapPlugin());
