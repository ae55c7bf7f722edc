package dev.harbor.transport;

import dev.harbor.proto.Born;
import dev.harbor.proto.CallError;
import dev.harbor.proto.Died;
import dev.harbor.proto.Envelope;
import dev.harbor.proto.Heartbeat;
import dev.harbor.proto.Leaving;
import dev.harbor.proto.LinkFrame;
import dev.harbor.proto.NameBinding;
import dev.harbor.service.CallException;
import dev.harbor.service.ExitEvent;
import dev.harbor.service.ExitReason;
import dev.harbor.service.Handle;
import dev.harbor.wire.Wire;
import java.util.Objects;

/**
 * The protobuf forms of what a link carries besides messages: envelopes for service updates, call
 * errors, heartbeat frames. Messages go in {@link EnvelopeBatch}'s flat form, payloads by {@link Payloads}.
 *
 * <p>Stateless: pure functions, called from any thread.
 */
final class Codec {
    private Codec() {
    }

    /** A service of this node went live. */
    static Envelope born(Handle handle) {
        return Envelope.newBuilder().setBorn(Born.newBuilder().setHandle(Wire.handle(handle))).build();
    }

    /** A global name was bound to a service of this node. */
    static Envelope bound(String name, Handle handle) {
        return Envelope.newBuilder().setBound(NameBinding.newBuilder().setName(name).setHandle(Wire.handle(handle))).build();
    }

    /** A service of this node ended, with its reason and the names it held. */
    static Envelope died(ExitEvent event) {
        return Envelope.newBuilder().setDied(Died.newBuilder().setHandle(Wire.handle(event.handle()))
                .setReason(dev.harbor.proto.ExitReason.forNumber(event.reason().ordinal() + 1))
                .addAllNames(event.names())).build();
    }

    /** This node leaves the cluster on purpose. */
    static Envelope leaving(String why) {
        return Envelope.newBuilder().setLeaving(Leaving.newBuilder().setReason(why)).build();
    }

    /** A heartbeat frame, stamped now. */
    static LinkFrame heartbeat() {
        return LinkFrame.newBuilder().setHeartbeat(Heartbeat.newBuilder().setSentUnixNanos(System.nanoTime())).build();
    }

    /** The wire form of a call's failure. */
    static CallError callError(CallException e) {
        CallError.Builder b = CallError.newBuilder()
                .setFailure(CallError.Failure.forNumber(e.failure().ordinal() + 1))
                .setMessage(Objects.requireNonNullElse(e.getMessage(), ""));
        if (e.exitReason() != null) {
            b.setExitReason(dev.harbor.proto.ExitReason.forNumber(e.exitReason().ordinal() + 1));
        }
        if (e.target() != null) {
            b.setTarget(Wire.handle(e.target()));
        }
        return b.build();
    }

    /** A call's failure from its wire form; values this node does not know become {@code HANDLER_FAILED} and no reason. */
    static CallException callException(CallError e) {
        CallException.Failure failure = e.getFailureValue() >= 1 && e.getFailureValue() <= CallException.Failure.values().length
                ? CallException.Failure.values()[e.getFailureValue() - 1] : CallException.Failure.HANDLER_FAILED;
        ExitReason reason = e.getExitReasonValue() >= 1 && e.getExitReasonValue() <= ExitReason.values().length
                ? ExitReason.values()[e.getExitReasonValue() - 1] : null;
        Handle target = e.hasTarget() && e.getTarget().getNode() >= 1 && e.getTarget().getId() >= 1 ? Wire.handle(e.getTarget()) : null;
        return new CallException(failure, target, reason, e.getMessage(), null);
    }
}
