package dev.harbor.shutdown;

import com.google.protobuf.Message;
import dev.harbor.transport.PayloadTypes;
import dev.harbor.proto.Drain;
import dev.harbor.proto.RegisterNode;
import dev.harbor.proto.RegisterService;
import dev.harbor.proto.Registered;
import java.util.List;

/** The ordered-exit contract's messages, which cross nodes between services and the coordinator. */
public final class ShutdownMessages implements PayloadTypes {
    @Override
    public List<Message> prototypes() {
        return List.of(Drain.getDefaultInstance(), RegisterService.getDefaultInstance(), RegisterNode.getDefaultInstance(),
                Registered.getDefaultInstance());
    }
}
