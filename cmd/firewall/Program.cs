return Cni.Spec.Dispatcher.Main(new Cni.Plugins.FirewallMeta.FirewallPlugin());
