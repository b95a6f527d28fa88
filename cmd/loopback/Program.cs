return Cni.Spec.Dispatcher.Main(new Cni.Plugins.Loopback.LoopbackPlugin());
