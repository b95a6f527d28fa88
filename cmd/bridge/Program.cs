return Cni.Spec.Dispatcher.Main(new Cni.Plugins.Bridge.BridgePlugin());
