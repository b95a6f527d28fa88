return Cni.Spec.Dispatcher.Main(new Cni.Plugins.Macvlan.MacvlanPlugin());
