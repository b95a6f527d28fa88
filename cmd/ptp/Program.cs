return Cni.Plugins.InProcessIpam.Main(new Cni.Plugins.Ptp.PtpPlugin());
