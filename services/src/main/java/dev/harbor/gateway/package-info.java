/**
 * The reference TCP gateway, an application on the runtime: {@code Gateway} listens (Netty), runs one
 * {@code SessionAgent} service per connection for the application's {@code Session}, and drains first
 * in an ordered shutdown (role {@code gateway}). The line protocol is in the README. May depend on the
 * service API ({@code service}), {@code shutdown}, Micrometer (the node's registry, when its host provides one) and {@code proto}.
 */
package dev.harbor.gateway;
