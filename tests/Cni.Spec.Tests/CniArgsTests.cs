using Cni.Spec;

namespace Cni.Spec.Tests;

/// <summary>CNI_ARGS as the Kubernetes path sends it, and the reference's (cni types.LoadArgs) rules for keys.</summary>
public class CniArgsTests
{
    /// <summary>What containerd's CRI plugin (go-cni WithLabels from the pod sandbox) passes to every plugin.</summary>
    private const string FromContainerd =
        "IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=coredns-5d78c9869d-x2v7q;" +
        "K8S_POD_INFRA_CONTAINER_ID=671125675488ae340080e5c09a20d4645723e68dd7a7a5c38bb474225f3ecbfd;" +
        "K8S_POD_UID=0b8d8a2e-1d7f-4c5e-9a44-5d1e2f3a4b6c";

    [Fact]
    public void Containerds_kubernetes_args_are_read_key_by_key()
    {
        var a = CniArgs.Parse(FromContainerd);
        Assert.True(a.IgnoreUnknown);
        Assert.Equal("kube-system", a.Get("K8S_POD_NAMESPACE"));
        Assert.Equal("coredns-5d78c9869d-x2v7q", a.Get("K8S_POD_NAME"));
        Assert.Equal("671125675488ae340080e5c09a20d4645723e68dd7a7a5c38bb474225f3ecbfd", a.Get("K8S_POD_INFRA_CONTAINER_ID"));
        Assert.Equal("0b8d8a2e-1d7f-4c5e-9a44-5d1e2f3a4b6c", a.Get("K8S_POD_UID"));
        Assert.Equal(5, a.Pairs.Count);
    }

    [Fact]
    public void Containerds_kubernetes_args_pass_a_plugin_that_knows_only_MAC()
    {
        CniArgs.Parse(FromContainerd).EnsureKnown("MAC");
        CniArgs.Parse(FromContainerd + ";MAC=02:00:00:00:00:01").EnsureKnown("MAC");
    }

    [Fact]
    public void Kubernetes_keys_without_IgnoreUnknown_are_unknown_args()
    {
        var a = CniArgs.Parse(FromContainerd.Replace("IgnoreUnknown=1;", ""));
        var e = Assert.Throws<CniException>(() => a.EnsureKnown("MAC"));
        Assert.Equal(ErrorCode.UnsupportedField, e.Code);
        Assert.Contains("K8S_POD_NAMESPACE", e.Message);
    }

    [Theory]
    [InlineData("1", true)]
    [InlineData("true", true)]
    [InlineData("True", true)]
    [InlineData("TRUE", true)]
    [InlineData("0", false)]
    [InlineData("false", false)]
    [InlineData("False", false)]
    public void IgnoreUnknown_takes_1_true_0_false_in_any_case(string value, bool expected)
    {
        var a = CniArgs.Parse($"IgnoreUnknown={value};K8S_POD_NAME=web");
        Assert.Equal(expected, a.IgnoreUnknown);
        if (expected) a.EnsureKnown("MAC");
        else Assert.Equal(ErrorCode.UnsupportedField, Assert.Throws<CniException>(() => a.EnsureKnown("MAC")).Code);
    }

    [Theory]
    [InlineData("yes")]
    [InlineData("2")]
    [InlineData("")]
    public void IgnoreUnknown_with_a_value_that_is_not_a_boolean_is_an_error(string value)
    {
        var a = CniArgs.Parse($"IgnoreUnknown={value};MAC=02:00:00:00:00:01");
        var e = Assert.Throws<CniException>(() => a.EnsureKnown("MAC"));
        Assert.Equal(ErrorCode.InvalidEnvironmentVariables, e.Code);
    }

    [Fact]
    public void Keys_match_exactly_not_by_case()
    {
        var a = CniArgs.Parse("ignoreunknown=1;K8S_POD_NAME=web");
        Assert.False(a.IgnoreUnknown);
        Assert.Null(a.Get("k8s_pod_name"));
        Assert.Throws<CniException>(() => a.EnsureKnown("MAC"));
    }

    [Fact]
    public void A_key_given_twice_takes_its_last_value()
    {
        var a = CniArgs.Parse("MAC=02:00:00:00:00:01;IgnoreUnknown=0;MAC=02:00:00:00:00:02;IgnoreUnknown=1;FOO=x");
        Assert.Equal("02:00:00:00:00:02", a.Get("MAC"));
        Assert.True(a.IgnoreUnknown);
        a.EnsureKnown("MAC");
    }
}
