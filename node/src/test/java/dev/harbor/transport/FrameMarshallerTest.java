package dev.harbor.transport;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.harbor.proto.Batch;
import dev.harbor.proto.LinkFrame;
import dev.harbor.service.Handle;
import io.grpc.KnownLength;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.ByteArrayInputStream;
import org.junit.jupiter.api.Test;

/** How the link's server reads a frame: as it was written, with a batch's bytes left in the array they were read into. */
class FrameMarshallerTest {
    private static final FrameMarshaller MARSHALLER = FrameMarshaller.INSTANCE;
    private final Payloads payloads = new Payloads();

    @Test
    void aFrameReadsBackAsWrittenAndItsBatchIsNotCopiedOutOfTheFrame() throws Exception {
        LinkFrame first = frame("one", "two");
        LinkFrame second = frame("three", "four");

        LinkFrame a = MARSHALLER.parse(MARSHALLER.stream(first));
        LinkFrame b = MARSHALLER.parse(MARSHALLER.stream(second));

        assertThat(a).isEqualTo(first);
        assertThat(b).isEqualTo(second);
        // The batch's bytes lie inside an array that holds the whole frame (its heading too), not in a copy of their own.
        EnvelopeBatch.Piece where = EnvelopeBatch.Piece.of(a.getBatch().getPacked());
        assertThat(where.pieces).isEqualTo(1);
        assertThat(where.bytes.length).isEqualTo(first.getSerializedSize());
        assertThat(where.length).isEqualTo(first.getBatch().getPacked().size()).isLessThan(where.bytes.length);
        // Each frame has an array of its own: reading the second did not touch the first.
        EnvelopeBatch.Reader r = EnvelopeBatch.reader(a.getBatch().getPacked());
        assertThat(r.next()).isTrue();
        assertThat(r.payload(payloads)).isEqualTo("one");
        assertThat(r.next()).isTrue();
        assertThat(r.payload(payloads)).isEqualTo("two");
        assertThat(r.next()).isFalse();
    }

    @Test
    void anEmptyMessageIsTheEmptyFrameAndAStreamOfUnknownLengthIsReadToo() {
        assertThat(MARSHALLER.parse(new Known(new byte[0]))).isEqualTo(LinkFrame.getDefaultInstance());

        LinkFrame frame = frame("x");
        assertThat(MARSHALLER.parse(new ByteArrayInputStream(frame.toByteArray()))).isEqualTo(frame);
    }

    @Test
    void bytesThatAreNotAFrameFailWithInternalAndSaySo() {
        byte[] bad = {(byte) 0x0A, (byte) 0x7F, 1, 2}; // field 1, length 127, but only two bytes follow
        assertThatThrownBy(() -> MARSHALLER.parse(new Known(bad))).isInstanceOf(StatusRuntimeException.class)
                .satisfies(e -> assertThat(((StatusRuntimeException) e).getStatus().getCode()).isEqualTo(Status.Code.INTERNAL))
                .hasMessageContaining("a link frame that does not parse");
    }

    private static LinkFrame frame(String... texts) {
        EnvelopeBatch batch = new EnvelopeBatch();
        for (String text : texts) {
            batch.send(Handle.of(2, 7), Handle.of(1, 9), text);
        }
        return LinkFrame.newBuilder().setBatch(Batch.newBuilder().setPacked(batch.toByteString())).build();
    }

    /** A message as gRPC's transports hand it to a marshaller: a stream that knows its length. */
    private static final class Known extends ByteArrayInputStream implements KnownLength {
        Known(byte[] bytes) {
            super(bytes);
        }
    }
}
