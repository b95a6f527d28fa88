using Cni.Linux.Interop;

// With a subcommand and no CNI_COMMAND: the admin command (list, release-node); otherwise a CNI plugin call.
if (args.Length > 0 && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CNI_COMMAND")))
{
    using var stdout = DescriptorStream.ForWriting(1);
    using var stderr = new StreamWriter(DescriptorStream.ForWriting(2));
    return Cni.Plugins.ClusterIpam.ClusterIpamAdmin.Main(args, stdout, stderr);
}
return Cni.Spec.Dispatcher.Main(new Cni.Plugins.ClusterIpam.ClusterIpamPlugin());
