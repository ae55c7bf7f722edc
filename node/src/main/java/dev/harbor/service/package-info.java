/**
 * The runtime core: a {@code Node} hosts services, routes their messages, keeps their names and ends
 * each with exactly one exit event, which its monitor receives.
 *
 * <p>What is here: {@code Node}, and {@code ServiceCell}, which runs one service's handlers one at a
 * time on virtual threads. A service's end: {@code ExitReason} and {@code ExitEvent}, and the node's
 * {@code ExitLog} (numbers events 1, 2, 3... per node without gaps, retains the newest, hands each to
 * its listeners in order under one lock). The node's monitor: {@code Monitor}, the one service per node
 * that receives every exit event in order and answers {@code Monitor.Watch} requests (how
 * {@code Node.watch} and {@code ServiceContext.watch} work); the node launches it first, stops it last
 * and never lets it be killed, so it is part of the node, not a service built on it. Its default,
 * {@code LoggingMonitor}, logs one line per exit; an embedder may pass its own subclass.
 *
 * <p>Who uses what: {@code Node}'s public methods are the API of whoever runs a node (an embedder, the
 * node process, a test). The service API ({@code Service}, {@code ServiceContext}, {@code Message},
 * {@code Handle}, {@code ExitEvent}) is what applications use; a service sees its node as a
 * {@code NodeView}, which cannot stop, abort or close it. {@code Remote} is what a cluster transport
 * implements. {@code InternalNode} carries the node's hooks for the runtime's other packages (the
 * transport, the admin API) and the node process's metrics; it is not an API, and {@code LayeringTest}
 * keeps everything else off it.
 * Depends on the JDK and SLF4J only; every other Harbor package depends on it.
 */
package dev.harbor.service;
