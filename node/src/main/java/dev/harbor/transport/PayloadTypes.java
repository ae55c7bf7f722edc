package dev.harbor.transport;

import com.google.protobuf.Message;
import java.util.List;

/**
 * The protobuf message types a module sends between nodes, so that they arrive as their own type rather
 * than as an {@code Any}. A module declares its types by naming an implementation in
 * {@code META-INF/services/dev.harbor.transport.PayloadTypes}; every {@link Payloads} made afterwards
 * registers them. Implementations need a public no-argument constructor and must not fail.
 */
public interface PayloadTypes {

    /** One instance of each type, usually its {@code getDefaultInstance()}. */
    List<Message> prototypes();
}
