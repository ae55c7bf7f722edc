package dev.harbor.security;

import com.google.protobuf.InvalidProtocolBufferException;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.InputStream;

/**
 * Answers a request that does not parse with {@code INVALID_ARGUMENT} and what is wrong with it.
 * Left alone, grpc-java parses requests inside the application's listener, so a malformed message
 * ends the call as {@code UNKNOWN: Application error processing RPC}, which tells the sender nothing.
 *
 * <p>{@link #guard} makes the service take its messages as the raw streams gRPC hands over (no copy:
 * the same stream is parsed by the service's own marshaller, one step later) and catches the parse
 * failure there. Stateless apart from one flag per call (touched by that call's serialized listener
 * callbacks only).
 */
public final class MalformedRequests {
    private static final MethodDescriptor.Marshaller<InputStream> PASS_THROUGH = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(InputStream value) {
            return value;
        }

        @Override
        public InputStream parse(InputStream stream) {
            return stream;
        }
    };

    private static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(byte[] value) {
            return new java.io.ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (java.io.IOException e) {
                throw Status.INTERNAL.withDescription("cannot read a message: " + e.getMessage()).withCause(e).asRuntimeException();
            }
        }
    };

    private MalformedRequests() {
    }

    /**
     * {@code method} with its messages as the bytes that travel, unparsed: for a client that sends bytes
     * of its own (a proxy, a fuzzer, the hostile-input tests).
     */
    public static MethodDescriptor<byte[], byte[]> rawBytes(MethodDescriptor<?, ?> method) {
        return method.toBuilder(BYTES, BYTES).build();
    }

    /** {@code service}, answering requests that do not parse with a clear {@code INVALID_ARGUMENT}. */
    public static ServerServiceDefinition guard(ServerServiceDefinition service) {
        return ServerInterceptors.intercept(ServerInterceptors.useMarshalledMessages(service, PASS_THROUGH), new Check());
    }

    private static final class Check implements ServerInterceptor {
        @Override
        public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
            return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(next.startCall(call, headers)) {
                private boolean refused;

                @Override
                public void onMessage(Q message) {
                    if (refused) {
                        return;
                    }
                    try {
                        super.onMessage(message);
                    } catch (StatusRuntimeException e) {
                        if (!(e.getCause() instanceof InvalidProtocolBufferException bad)) {
                            throw e;
                        }
                        refused = true;
                        String method = call.getMethodDescriptor().getFullMethodName();
                        call.close(Status.INVALID_ARGUMENT.withDescription("the message sent to " + method
                                + " is not a valid protobuf message of its request type: " + bad.getMessage()), new Metadata());
                    }
                }

                @Override
                public void onHalfClose() {
                    if (!refused) {
                        super.onHalfClose();
                    }
                }
            };
        }
    }
}
