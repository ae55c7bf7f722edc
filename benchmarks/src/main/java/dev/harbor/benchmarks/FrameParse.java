package dev.harbor.benchmarks;

import dev.harbor.proto.Batch;
import dev.harbor.proto.HarborGrpc;
import dev.harbor.proto.LinkFrame;
import dev.harbor.service.Handle;
import dev.harbor.service.Node;
import dev.harbor.transport.EnvelopeBatch;
import dev.harbor.transport.Harbor;
import io.grpc.KnownLength;
import io.grpc.MethodDescriptor;
import io.grpc.ServerMethodDefinition;
import java.io.ByteArrayInputStream;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * How long the link's server takes to read one frame off the wire: a frame of {@link #SENDS} sends
 * of {@link CrossNodeThroughput#PAYLOAD_BYTES} bytes each (CrossNodeThroughput's frames), parsed from
 * a stream that knows its length (as gRPC hands a message to a marshaller), then walked record by
 * record as the link's reader walks it (the heads only: who decodes payloads is another matter).
 *
 * <ul>
 *   <li><b>harbor</b>: the marshaller of the method Harbor's {@code linkService()} serves, which reads a
 *       frame into an array of its own and leaves the batch's bytes there.</li>
 *   <li><b>stock</b>: the generated stub's marshaller (gRPC's protobuf marshaller), which the link used
 *       before and a bare gRPC stream of the same frames uses: it reads into a buffer it reuses, so it
 *       copies the batch's bytes out again.</li>
 * </ul>
 * One operation is one frame, in nanoseconds; one thread, no network.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(value = 2, jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class FrameParse {
    /** Sends in a frame: a full one of Harbor's default batch, as in CrossNodeThroughput. */
    static final int SENDS = CrossNodeThroughput.GRPC_BATCH;

    @Param({"harbor", "stock"})
    public String marshaller;

    private Node node;
    private MethodDescriptor.Marshaller<LinkFrame> frames;
    private byte[] wire;

    @Setup(Level.Trial)
    public void setUp() {
        node = Node.builder().id(2).build();
        Harbor harbor = Harbor.builder(node).advertise("127.0.0.1:1").build(); // never started: only its service is read
        frames = switch (marshaller) {
            case "harbor" -> requestMarshaller(harbor);
            case "stock" -> HarborGrpc.getLinkMethod().getRequestMarshaller();
            default -> throw new IllegalArgumentException("unknown marshaller '" + marshaller + "': use harbor or stock");
        };
        EnvelopeBatch batch = new EnvelopeBatch();
        for (int i = 0; i < SENDS; i++) {
            batch.send(Handle.of(2, 1 + i % 8), Handle.of(1, 100 + i % 8), CrossNodeThroughput.PAYLOAD);
        }
        wire = LinkFrame.newBuilder().setBatch(Batch.newBuilder().setPacked(batch.toByteString())).build().toByteArray();
    }

    @SuppressWarnings("unchecked")
    private static MethodDescriptor.Marshaller<LinkFrame> requestMarshaller(Harbor harbor) {
        ServerMethodDefinition<?, ?> link = harbor.linkService().bindService()
                .getMethod(HarborGrpc.getLinkMethod().getFullMethodName());
        return (MethodDescriptor.Marshaller<LinkFrame>) link.getMethodDescriptor().getRequestMarshaller();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        node.stop();
    }

    /** Parses the frame and walks its records; returns a sum of what it read, so that nothing is left unused. */
    @Benchmark
    public long readFrame() throws Exception {
        LinkFrame frame = frames.parse(new Message(wire));
        long sum = 0;
        for (EnvelopeBatch.Reader r = EnvelopeBatch.reader(frame.getBatch().getPacked()); r.next(); ) {
            sum += r.to().id() + (r.isSend() ? 1 : 0);
        }
        return sum;
    }

    /** A message as gRPC's transports hand it over: a stream that knows its length. */
    private static final class Message extends ByteArrayInputStream implements KnownLength {
        Message(byte[] bytes) {
            super(bytes);
        }
    }
}
