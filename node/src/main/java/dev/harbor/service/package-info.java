/**
 * The runtime core: a {@code Node} hosts services, routes their messages, keeps their names and ends
 * them; {@code ServiceCell} runs one service's handlers one at a time on virtual threads. Every service
 * ends with exactly one exit event.
 *
 * <p>Who uses what: {@code Node}'s public methods are the API of whoever runs a node (an embedder, the
 * node process, a test). The service API ({@code Service}, {@code ServiceContext}, {@code Message},
 * {@code Handle}) is what applications use; a service sees its node as a {@code NodeView}, which cannot
 * stop, abort or close it. {@code Remote} is what a cluster transport implements. {@code InternalNode}
 * carries the node's hooks for the runtime's other packages (the transport, the admin API, the exit
 * monitor) and the node process's metrics; it is not an API, and {@code LayeringTest} keeps everything
 * else off it.
 * May depend on {@code dev.harbor.exit} only (which depends back on it: see ARCHITECTURE.md).
 */
package dev.harbor.service;
