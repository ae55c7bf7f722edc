package dev.harbor.coordinator;

import com.google.protobuf.Message;
import dev.harbor.transport.PayloadTypes;
import dev.harbor.proto.PlanRequest;
import dev.harbor.proto.PlanResponse;
import dev.harbor.proto.ShutdownRequest;
import java.util.List;

/** The coordinator's own requests, which its API hands to the coordinator service wherever that runs. */
public final class CoordinatorMessages implements PayloadTypes {
    @Override
    public List<Message> prototypes() {
        return List.of(ShutdownRequest.getDefaultInstance(), PlanRequest.getDefaultInstance(), PlanResponse.getDefaultInstance());
    }
}
