package dev.harbor.wire;

import dev.harbor.service.ExitEvent;
import dev.harbor.service.ExitReason;
import dev.harbor.service.Handle;
import dev.harbor.service.ServiceInfo;
import java.time.Instant;

/**
 * The runtime's handles, service listings and exit events in their {@code harbor.v1} wire forms, and
 * back. Stateless.
 */
public final class Wire {
    private static final long NANOS_PER_SECOND = 1_000_000_000L;

    private Wire() {
    }

    /** The wire form of {@code handle}. */
    public static dev.harbor.proto.Handle handle(Handle handle) {
        return dev.harbor.proto.Handle.newBuilder().setNode(handle.node()).setId(handle.id()).build();
    }

    /**
     * The handle a wire handle names.
     *
     * @throws IllegalArgumentException if its node id is not 1-65535 or its local id is not positive,
     *     saying which
     */
    public static Handle handle(dev.harbor.proto.Handle wire) {
        if (wire.getNode() < 1 || wire.getNode() > Handle.MAX_NODE) {
            throw new IllegalArgumentException("node id " + Integer.toUnsignedString(wire.getNode())
                    + " is out of range: node ids are 1 to " + Handle.MAX_NODE);
        }
        if (wire.getId() == 0) {
            throw new IllegalArgumentException("local id 0 names no service: local ids start at 1");
        }
        return Handle.of(wire.getNode(), wire.getId());
    }

    /** The wire form of a service listing. */
    public static dev.harbor.proto.ServiceInfo service(ServiceInfo info) {
        return dev.harbor.proto.ServiceInfo.newBuilder()
                .setHandle(handle(info.handle()))
                .setType(info.type())
                .addAllNames(info.names())
                .setMailboxDepth(info.mailboxDepth())
                .setMessagesHandled(info.messagesHandled())
                .putAllTags(info.tags())
                .build();
    }

    /** A service listing read from the wire. */
    public static ServiceInfo service(dev.harbor.proto.ServiceInfo wire) {
        return new ServiceInfo(handle(wire.getHandle()), wire.getType(), wire.getNamesList(), wire.getMailboxDepth(),
                wire.getMessagesHandled(), wire.getTagsMap());
    }

    /** The wire form of an exit event. */
    public static dev.harbor.proto.ExitEvent exit(ExitEvent event) {
        Instant t = event.time();
        return dev.harbor.proto.ExitEvent.newBuilder()
                .setSeq(event.seq())
                .setHandle(handle(event.handle()))
                .addAllNames(event.names())
                .setNode(event.node())
                .setReason(reason(event.reason()))
                .setTimeUnixNanos(t.getEpochSecond() * NANOS_PER_SECOND + t.getNano())
                .setDetail(event.detail())
                .build();
    }

    /**
     * An exit event read from the wire.
     *
     * @throws IllegalArgumentException if its handle or reason is not one this runtime knows
     */
    public static ExitEvent exit(dev.harbor.proto.ExitEvent wire) {
        Instant time = Instant.ofEpochSecond(Math.floorDiv(wire.getTimeUnixNanos(), NANOS_PER_SECOND),
                Math.floorMod(wire.getTimeUnixNanos(), NANOS_PER_SECOND));
        return new ExitEvent(wire.getSeq(), handle(wire.getHandle()), wire.getNamesList(), wire.getNode(),
                reason(wire.getReason()), time, wire.getDetail());
    }

    /** The wire form of an exit reason (the two enums share their names). */
    public static dev.harbor.proto.ExitReason reason(ExitReason reason) {
        return dev.harbor.proto.ExitReason.valueOf(reason.name());
    }

    /**
     * The exit reason a wire reason names.
     *
     * @throws IllegalArgumentException for {@code EXIT_REASON_UNSPECIFIED} or a number this runtime does
     *     not know (a newer peer)
     */
    public static ExitReason reason(dev.harbor.proto.ExitReason wire) {
        if (wire == dev.harbor.proto.ExitReason.EXIT_REASON_UNSPECIFIED || wire == dev.harbor.proto.ExitReason.UNRECOGNIZED) {
            throw new IllegalArgumentException("exit reason " + wire + " is not one this runtime knows");
        }
        return ExitReason.valueOf(wire.name());
    }
}
