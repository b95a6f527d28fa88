return Cni.Spec.Dispatcher.Main(new Cni.Plugins.Dnsname.DnsnamePlugin());
