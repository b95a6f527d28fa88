return Cni.Plugins.InProcessIpam.MainWithTls(new Cni.Plugins.Bridge.BridgePlugin());
