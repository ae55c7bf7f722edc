/**
 * The demo application: a chat room, {@code ChatSession}, a gateway {@code Session} that stores every
 * line through the writer. Built against the runtime ({@code harbor-node}) and the reference services
 * ({@code harbor-services}) alone, as any application would be; the node process runs it, named in a
 * node's {@code services} setting. The local cluster that runs and checks it is {@code dev.harbor.demo.run}.
 */
package dev.harbor.demo;
