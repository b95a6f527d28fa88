using System.Buffers.Binary;
using System.Net;
using Cni.Linux.Netlink;
using static Cni.Linux.Netlink.NetlinkConstants;

namespace Cni.Linux.Tests;

public class NetlinkWriterTests
{
    [Fact]
    public void Nested_scope_back_patches_length_and_sets_nested_flag()
    {
        var writer = new NetlinkWriter();
        try
        {
            writer.BeginMessage(16, NLM_F_REQUEST | NLM_F_ACK);
            writer.Reserve(16);
            using (writer.Nest(18))
            {
                writer.AttributeString(1, "veth");
                writer.AttributeU32BigEndian(2, 0x01020304);
            }
            writer.AttributeU8(3, 7);
            writer.EndMessage();

            ReadOnlySpan<byte> bytes = writer.WrittenSpan;
            Assert.Equal((uint)bytes.Length, BinaryPrimitives.ReadUInt32LittleEndian(bytes));
            Assert.Equal(1, writer.MessageCount);

            var reader = new NetlinkMessageReader(bytes);
            Assert.True(reader.MoveNext());
            NetlinkMessage message = reader.Current;
            Assert.Equal(16, message.Type);
            var attributes = message.Attributes(16);
            Assert.True(attributes.MoveNext());
            NetlinkAttribute nest = attributes.Current;
            Assert.True(nest.IsNested);
            Assert.Equal(18, nest.Type);
            Assert.Equal(4 + 12 + 8, 4 + nest.Value.Length);
            var inner = nest.Nested;
            Assert.True(inner.MoveNext());
            Assert.Equal("veth", inner.Current.String);
            Assert.True(inner.MoveNext());
            Assert.Equal(0x01020304u, inner.Current.U32BigEndian);
            Assert.Equal(new byte[] { 1, 2, 3, 4 }, inner.Current.Value.ToArray());
            Assert.False(inner.MoveNext());
            Assert.True(attributes.MoveNext());
            Assert.Equal(7, attributes.Current.U8);
            Assert.False(attributes.MoveNext());
            Assert.False(reader.MoveNext());
        }
        finally
        {
            writer.Dispose();
        }
    }

    [Fact]
    public void Batch_holds_consecutive_aligned_messages()
    {
        var writer = new NetlinkWriter(16);
        try
        {
            for (int i = 0; i < 50; i++)
            {
                writer.BeginMessage((ushort)(0x10 + i), NLM_F_REQUEST);
                writer.AttributeU64BigEndian(1, (ulong)i);
                writer.AttributeAddress(2, IPAddress.Parse("fd00::1"));
                writer.AttributeU16BigEndian(3, 4789);
            }
            writer.EndMessage();
            int count = 0;
            foreach (NetlinkMessage message in new NetlinkMessageReader(writer.WrittenSpan))
            {
                Assert.Equal(0x10 + count, message.Type);
                var attributes = message.Attributes(0);
                Assert.True(attributes.MoveNext());
                Assert.Equal((ulong)count, attributes.Current.U64BigEndian);
                Assert.True(attributes.MoveNext());
                Assert.Equal(IPAddress.Parse("fd00::1"), attributes.Current.Address);
                Assert.True(attributes.MoveNext());
                Assert.Equal(4789, attributes.Current.U16BigEndian);
                count++;
            }
            Assert.Equal(50, count);
        }
        finally
        {
            writer.Dispose();
        }
    }

    [Fact]
    public void Writing_an_attribute_before_a_message_is_refused()
    {
        var writer = new NetlinkWriter();
        try
        {
            bool threw = false;
            try
            {
                writer.AttributeU32(1, 1);
            }
            catch (InvalidOperationException)
            {
                threw = true;
            }
            Assert.True(threw);
        }
        finally
        {
            writer.Dispose();
        }
    }
}
