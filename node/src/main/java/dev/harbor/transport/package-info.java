/**
 * The cluster transport: {@code Harbor} implements {@code dev.harbor.service.Remote} over one gRPC
 * {@code Harbor.Link} stream each way between two nodes, batches envelopes under gRPC's flow control,
 * and keeps membership (suspicion, loss by majority verdict, leaving, new lives). {@code Harbor} is the
 * facade; its parts are {@code Membership}, {@code Dialler}, {@code LinkProtocol}, {@code Routing},
 * {@code Codec} and {@code LinkWriter}, each with its own state. Frame handling never blocks. The link
 * timer (heartbeats, suspicion, verdicts, dialling) runs on the node's {@code Scheduler} and reads
 * only that scheduler's clock, so a test's scheduler decides when peers are suspected and lost. May
 * depend on {@code service}, {@code wire} (handles and exit events on the wire) and {@code proto};
 * a sibling of the admin API, which it does not use.
 */
package dev.harbor.transport;
