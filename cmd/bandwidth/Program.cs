return Cni.Spec.Dispatcher.Main(new Cni.Plugins.Bandwidth.BandwidthPlugin());
