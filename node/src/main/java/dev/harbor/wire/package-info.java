/**
 * The runtime's values in their {@code harbor.v1} wire forms: {@code Wire} converts handles, service
 * listings and exit events to and from their protobuf messages, and checks what it reads. Shared by the
 * cluster transport and the admin API, which are siblings; stateless. May depend on {@code service}
 * and {@code proto} only.
 */
package dev.harbor.wire;
