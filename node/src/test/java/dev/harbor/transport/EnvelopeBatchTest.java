package dev.harbor.transport;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.harbor.proto.CallError;
import dev.harbor.proto.Drain;
import dev.harbor.service.CallException;
import dev.harbor.service.Handle;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** The link's flat batch form: every record kind and payload kind reads back as written, and bytes that are not a batch are refused. */
class EnvelopeBatchTest {
    private static final Handle TO = Handle.of(2, 0x7FFF_FFFF_FFFF_FFFFL);
    private static final Handle FROM = Handle.of(0xFFFF, 1);
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
}
