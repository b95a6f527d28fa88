return Cni.Spec.Dispatcher.Main(new Cni.Plugins.Static.StaticPlugin());
