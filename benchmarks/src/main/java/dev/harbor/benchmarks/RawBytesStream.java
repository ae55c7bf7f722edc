package dev.harbor.benchmarks;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.CodedOutputStream;
import io.grpc.MethodDescriptor;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The raw ceiling of {@link CrossNodeThroughput}: one gRPC bidirectional stream whose messages are the
 * protobuf wire form of {@code message Chunk { repeated bytes items = 1; }}, {@link CrossNodeThroughput#GRPC_BATCH} items of 100 bytes
 * each: what gRPC and protobuf move between two JVMs on loopback when a message is nothing but its
 * payload bytes (no handles, no envelope, no nesting). Written by hand (a marshaller over
 * {@link CodedOutputStream} and {@link CodedInputStream}, exactly what generated code does for a
 * {@code repeated bytes} field) so the benchmarks need no proto of their own.
 */
final class RawBytesStream {
    /** The stream method: {@code bench.Raw/Stream}, both ways a list of byte strings. */
    static final MethodDescriptor<List<ByteString>, List<ByteString>> METHOD =
            MethodDescriptor.<List<ByteString>, List<ByteString>>newBuilder()
                    .setType(MethodDescriptor.MethodType.BIDI_STREAMING)
                    .setFullMethodName(MethodDescriptor.generateFullMethodName("bench.Raw", "Stream"))
                    .setRequestMarshaller(new Chunks()).setResponseMarshaller(new Chunks()).build();

    private RawBytesStream() {
    }

    /** {@code repeated bytes items = 1}, to and from the wire. */
    private static final class Chunks implements MethodDescriptor.Marshaller<List<ByteString>> {
        @Override
        public InputStream stream(List<ByteString> items) {
            int size = 0;
            for (ByteString b : items) {
                size += CodedOutputStream.computeBytesSize(1, b);
            }
            byte[] out = new byte[size];
            CodedOutputStream coded = CodedOutputStream.newInstance(out);
            try {
                for (ByteString b : items) {
                    coded.writeBytes(1, b);
                }
                coded.checkNoSpaceLeft();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return new ByteArrayInputStream(out);
        }

        @Override
        public List<ByteString> parse(InputStream stream) {
            CodedInputStream in = CodedInputStream.newInstance(stream);
            List<ByteString> items = new ArrayList<>(CrossNodeThroughput.GRPC_BATCH);
            try {
                for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
                    if (tag != (1 << 3 | 2)) {
                        throw new IOException("unexpected field tag " + tag + " in a raw chunk");
                    }
                    items.add(in.readBytes());
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return items;
        }
    }
}
