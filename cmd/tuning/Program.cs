return Cni.Spec.Dispatcher.Main(new Cni.Plugins.Tuning.TuningPlugin());
