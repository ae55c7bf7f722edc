package dev.harbor.writer;

import com.google.protobuf.Message;
import dev.harbor.transport.PayloadTypes;
import dev.harbor.proto.Committed;
import dev.harbor.proto.Record;
import java.util.List;

/** The writer's messages, which its callers send it from other nodes. */
public final class WriterMessages implements PayloadTypes {
    @Override
    public List<Message> prototypes() {
        return List.of(Record.getDefaultInstance(), Committed.getDefaultInstance());
    }
}
