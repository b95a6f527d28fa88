return Cni.Spec.Dispatcher.Main(new Cni.Plugins.HostLocal.HostLocalPlugin());
