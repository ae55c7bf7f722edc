package dev.harbor.transport;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.harbor.proto.CallError;
import dev.harbor.proto.Drain;
import dev.harbor.service.CallException;
import dev.harbor.service.Handle;
import dev.harbor.service.InternalNode;
import dev.harbor.service.Node;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

/** The link's flat batch form: every record kind and payload kind reads back as written, and bytes that are not a batch are refused. */
class EnvelopeBatchTest {
    private static final Handle TO = Handle.of(2, 0x7FFF_FFFF_FFFF_FFFFL);
    private static final Handle FROM = Handle.of(0xFFFF, 1);
    /** The bytes of a send of a one-character text: kind, two handles, tag, length, the character. */
    private static final int SEND_OF_ONE_CHAR = 1 + 12 + 12 + 1 + 1 + 1;
    private final Payloads payloads = new Payloads();

    @Test
    void everyRecordKindReadsBackInOrder() throws Exception {
        Drain drain = Drain.newBuilder().setRunId("r").setTimeoutMs(5).build();
        byte[] error = CallError.newBuilder().setFailure(CallError.Failure.GONE).setMessage("gone").build().toByteArray();
        byte[] bound = Codec.bound("n", TO).toByteArray();
        EnvelopeBatch batch = new EnvelopeBatch()
                .send(TO, FROM, "héllo, wörld ☃")
                .send(TO, null, (Object) null)
                .call(TO, FROM, 42, Payloads.encode(ByteString.copyFromUtf8("bytes"), TO))
                .reply(43, Payloads.encode(drain, null))
                .failure(44, error)
                .control(bound);
        assertThat(batch.count()).isEqualTo(6);

        EnvelopeBatch.Reader r = EnvelopeBatch.reader(batch.toByteString());
        assertThat(r.next()).isTrue();
        assertThat(r.isSend()).isTrue();
        assertThat(r.to()).isEqualTo(TO);
        assertThat(r.from()).isEqualTo(FROM);
        assertThat(r.payload(payloads)).isEqualTo("héllo, wörld ☃");

        assertThat(r.next()).isTrue();
        assertThat(r.from()).isNull();
        assertThat(r.payload(payloads)).isNull();

        assertThat(r.next()).isTrue();
        assertThat(r.kind()).isEqualTo(EnvelopeBatch.CALL);
        assertThat(r.session()).isEqualTo(42);
        assertThat(r.payload(payloads)).isEqualTo(ByteString.copyFromUtf8("bytes"));

        assertThat(r.next()).isTrue();
        assertThat(r.kind()).isEqualTo(EnvelopeBatch.REPLY);
        assertThat(r.session()).isEqualTo(43);
        assertThat(r.payload(payloads)).isEqualTo(drain);

        assertThat(r.next()).isTrue();
        assertThat(r.kind()).isEqualTo(EnvelopeBatch.FAILURE);
        assertThat(r.session()).isEqualTo(44);
        assertThat(Codec.callException(r.failure()).failure()).isEqualTo(CallException.Failure.GONE);

        assertThat(r.next()).isTrue();
        assertThat(r.kind()).isEqualTo(EnvelopeBatch.CONTROL);
        assertThat(r.control().getBound().getName()).isEqualTo("n");

        assertThat(r.next()).isFalse();
    }

    @Test
    void aRecordsPayloadNeedNotBeReadToMoveOn() throws Exception {
        EnvelopeBatch batch = new EnvelopeBatch();
        for (int i = 0; i < 100; i++) {
            batch.send(TO, FROM, "message " + i);
        }
        EnvelopeBatch.Reader r = EnvelopeBatch.reader(batch.toByteString());
        int read = 0;
        while (r.next()) {
            if (read == 99) {
                assertThat(r.payload(payloads)).isEqualTo("message 99");
            }
            read++;
        }
        assertThat(read).isEqualTo(100);
    }

    @Test
    void aBatchGrowsPastItsFirstCapacityForLargePayloads() throws Exception {
        byte[] large = new byte[3 * 1024 * 1024 + 7];
        Arrays.fill(large, (byte) 'x');
        EnvelopeBatch batch = new EnvelopeBatch(16).send(TO, FROM, ByteString.copyFrom(large)).send(TO, FROM, "after");
        EnvelopeBatch.Reader r = EnvelopeBatch.reader(batch.toByteString());
        assertThat(r.next()).isTrue();
        assertThat(((ByteString) r.payload(payloads)).size()).isEqualTo(large.length);
        assertThat(r.next()).isTrue();
        assertThat(r.payload(payloads)).isEqualTo("after");
    }

    @Test
    void aTruncatedBatchYieldsTheWholeRecordsBeforeTheCutAndThenAnError() throws Exception {
        ByteString whole = new EnvelopeBatch().send(TO, FROM, "first").send(TO, FROM, "second").toByteString();
        for (int cut = whole.size() / 2 + 1; cut < whole.size(); cut++) {
            EnvelopeBatch.Reader r = EnvelopeBatch.reader(whole.substring(0, cut));
            assertThat(r.next()).isTrue();
            assertThat(r.payload(payloads)).isEqualTo("first");
            assertThatThrownBy(r::next).isInstanceOf(InvalidProtocolBufferException.class).hasMessageContaining("ends inside a record");
        }
    }

    @Test
    void anUnknownKindOrPayloadTagIsRefused() throws Exception {
        assertThatThrownBy(() -> EnvelopeBatch.reader(ByteString.copyFrom(new byte[] {9, 0, 0})).next())
                .isInstanceOf(InvalidProtocolBufferException.class).hasMessageContaining("unknown kind 9");
        byte[] bytes = new EnvelopeBatch().send(TO, FROM, "x").toByteString().toByteArray();
        bytes[1 + 24] = 7; // the payload's tag
        EnvelopeBatch.Reader r = EnvelopeBatch.reader(ByteString.copyFrom(bytes));
        assertThat(r.next()).isTrue();
        assertThatThrownBy(() -> r.payload(payloads)).isInstanceOf(InvalidProtocolBufferException.class)
                .hasMessageContaining("unknown kind 7");
    }

    @Test
    void eachRecordNamesItsOwnServicesWhenOneHandleObjectServesRecordsInARow() throws Exception {
        Handle sameIdOtherNode = Handle.of(3, TO.id());
        Handle otherFrom = Handle.of(0xFFFF, 2);
        EnvelopeBatch.Reader r = EnvelopeBatch.reader(new EnvelopeBatch().send(TO, FROM, "a").send(TO, FROM, "b")
                .send(sameIdOtherNode, otherFrom, "c").send(TO, null, "d").send(TO, FROM, "e").toByteString());
        assertThat(r.next()).isTrue();
        Handle to = r.to();
        Handle from = r.from();
        assertThat(to).isEqualTo(TO);
        assertThat(from).isEqualTo(FROM);
        assertThat(r.next()).isTrue();
        assertThat(r.to()).isSameAs(to); // the same services as the record before: the same objects
        assertThat(r.from()).isSameAs(from);
        assertThat(r.next()).isTrue();
        assertThat(r.to()).isEqualTo(sameIdOtherNode);
        assertThat(r.from()).isEqualTo(otherFrom);
        assertThat(r.next()).isTrue();
        assertThat(r.to()).isEqualTo(TO);
        assertThat(r.from()).isNull();
        assertThat(r.next()).isTrue();
        assertThat(r.to()).isEqualTo(TO);
        assertThat(r.from()).isEqualTo(FROM);
        assertThat(r.next()).isFalse();
    }

    @Test
    void aHandleOutOfRangeFailsWhenAskedForNotWhenRead() throws Exception {
        byte[] bytes = new EnvelopeBatch().send(TO, FROM, "x").send(TO, FROM, "y").toByteString().toByteArray();
        bytes[1] = 0; // the first record's to.node: now node 0, which no node has
        bytes[2] = 0;
        EnvelopeBatch.Reader r = EnvelopeBatch.reader(ByteString.copyFrom(bytes));
        assertThat(r.next()).isTrue();
        assertThatThrownBy(r::to).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("out of range");
        assertThat(r.next()).isTrue();
        assertThat(r.payload(payloads)).isEqualTo("y");
    }

    @Test
    void sendsLeftInTheBatchReachTheirServiceInOrderAndARecordThatCannotJoinTheirRunIsReadOnItsOwn() throws Exception {
        Node node = Node.builder().id(2).build();
        try {
            List<String> gotA = new CopyOnWriteArrayList<>();
            List<String> gotB = new CopyOnWriteArrayList<>();
            Handle a = node.launch(() -> (ctx, m) -> gotA.add(m.payload() instanceof ByteString bs
                    ? "bytes " + bs.toStringUtf8() : String.valueOf(m.payload())));
            Handle b = node.launch(() -> (ctx, m) -> gotB.add(String.valueOf(m.payload())));
            EnvelopeBatch batch = new EnvelopeBatch()
                    .send(a, FROM, "1").send(a, null, "2").send(a, FROM, ByteString.copyFromUtf8("3"))
                    .send(a, FROM, "4") // made to name an invalid sender below
                    .send(a, FROM, "5").send(a, FROM, (Object) null) // decoded by the reader: not in the run
                    .send(b, FROM, "7").send(a, FROM, "8").send(a, FROM, "9");
            byte[] bytes = batch.toByteString().toByteArray();
            int fourth = 3 * SEND_OF_ONE_CHAR;
            bytes[fourth + 13] = 0; // its from.node: 0 with a from.id that is not 0, which no handle is
            bytes[fourth + 14] = 0;
            bytes = Arrays.copyOf(bytes, bytes.length - 1); // "9" cut off: its length says more than is left

            List<String> refused = readAsTheLinkDoes(node, bytes);

            assertThat(refused).hasSize(2);
            assertThat(refused.get(0)).contains("node id 0 is out of range");
            assertThat(refused.get(1)).contains("the batch ends inside a record");
            Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> gotA.size() == 6 && gotB.size() == 1);
            assertThat(gotA).containsExactly("1", "2", "bytes 3", "5", "null", "8");
            assertThat(gotB).containsExactly("7");
        } finally {
            node.stop();
        }
    }

    @Test
    void sendsToAnInvalidHandleAreEachRefusedNotPassedTogether() throws Exception {
        Node node = Node.builder().id(2).build();
        try {
            byte[] bytes = new EnvelopeBatch().send(TO, FROM, "x").send(TO, FROM, "y").send(TO, FROM, "z")
                    .toByteString().toByteArray();
            for (int i = 0; i < 3; i++) {
                bytes[i * SEND_OF_ONE_CHAR + 1] = 0; // each record's to.node: now node 0, which no node has
                bytes[i * SEND_OF_ONE_CHAR + 2] = 0;
            }
            assertThat(readAsTheLinkDoes(node, bytes)).as("one refusal per record, as the link's reader counts them")
                    .hasSize(3).allMatch(m -> m.contains("node id 0 is out of range"));
        } finally {
            node.stop();
        }
    }

    /**
     * Hands a batch of sends to {@code node}'s services as the link's reader does, and returns why each
     * record it could not hand over was refused, the batch's own error last.
     */
    private List<String> readAsTheLinkDoes(Node node, byte[] bytes) {
        EnvelopeBatch.Reader r = EnvelopeBatch.reader(ByteString.copyFrom(bytes));
        InternalNode.RemoteSends sends = new InternalNode.RemoteSends(node, EnvelopeBatch.SENDS_IN_FRAME);
        List<String> refused = new ArrayList<>();
        try {
            while (r.next()) {
                try {
                    r.sendTo(sends, r.from(), payloads);
                } catch (IllegalArgumentException | InvalidProtocolBufferException e) {
                    refused.add(e.getMessage());
                }
            }
        } catch (InvalidProtocolBufferException e) {
            refused.add(e.getMessage());
        } finally {
            sends.endFrame();
        }
        return refused;
    }
}
