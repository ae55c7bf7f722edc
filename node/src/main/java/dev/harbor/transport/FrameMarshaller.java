package dev.harbor.transport;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.ExtensionRegistryLite;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnsafeByteOperations;
import dev.harbor.proto.HarborGrpc;
import dev.harbor.proto.LinkFrame;
import io.grpc.KnownLength;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.io.IOException;
import java.io.InputStream;

/**
 * How the link's server reads a frame: into an array of its own, which the frame's byte fields then
 * point into rather than copy. gRPC's stock protobuf marshaller reads each message into a buffer it
 * reuses for the next, so it must copy every byte field out of it again: for a batch, the whole frame
 * a second time, on the event loop that reads the link. Here the array is new for each frame and
 * nothing else writes it, so the batch's bytes (and the payloads that stay undecoded in them, see
 * {@code EnvelopeBatch.Reader.sendTo}) can stay where they were read. A frame's byte fields
 * therefore keep the whole frame's array alive while any of them is held, which is what the copy held
 * before for a batch (its bytes are the frame, less a few bytes of heading).
 *
 * <p>Writing is gRPC's own. Stateless: any thread.
 */
final class FrameMarshaller implements MethodDescriptor.PrototypeMarshaller<LinkFrame> {
    static final FrameMarshaller INSTANCE = new FrameMarshaller();
    /** gRPC's own, which the generated stub uses. */
    private static final MethodDescriptor.Marshaller<LinkFrame> STOCK = HarborGrpc.getLinkMethod().getRequestMarshaller();

    private FrameMarshaller() {
    }

    @Override
    public InputStream stream(LinkFrame frame) {
        return STOCK.stream(frame);
    }

    @Override
    public LinkFrame parse(InputStream in) {
        if (!(in instanceof KnownLength)) {
            return STOCK.parse(in); // not the case with gRPC's own transports, which know a message's length
        }
        try {
            int size = in.available();
            if (size == 0) {
                return LinkFrame.getDefaultInstance();
            }
            byte[] bytes = new byte[size];
            for (int at = 0; at < size; ) {
                int n = in.read(bytes, at, size - at);
                if (n < 0) {
                    throw new IOException("the message ended after " + at + " of its " + size + " bytes");
                }
                at += n;
            }
            // Only a stream over bytes declared immutable aliases them (newInstance(byte[]) would still
            // copy): these are, since nothing but the frame refers to the array.
            CodedInputStream coded = UnsafeByteOperations.unsafeWrap(bytes).newCodedInput();
            coded.enableAliasing(true);
            LinkFrame frame = LinkFrame.parseFrom(coded, ExtensionRegistryLite.getEmptyRegistry());
            coded.checkLastTagWas(0);
            return frame;
        } catch (InvalidProtocolBufferException e) {
            throw Status.INTERNAL.withDescription("a link frame that does not parse: " + e.getMessage()).withCause(e)
                    .asRuntimeException();
        } catch (IOException e) {
            throw Status.INTERNAL.withDescription("reading a link frame failed: " + e.getMessage()).withCause(e)
                    .asRuntimeException();
        }
    }

    @Override
    public Class<LinkFrame> getMessageClass() {
        return LinkFrame.class;
    }

    @Override
    public LinkFrame getMessagePrototype() {
        return LinkFrame.getDefaultInstance();
    }
}
