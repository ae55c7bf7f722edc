/**
 * A node's admin API ({@code harbor.v1.Node}): {@code NodeAdminService} serves {@code WatchExits},
 * {@code ListServices}, {@code Kill}, {@code KillMany}, {@code Stop}, {@code Abort} and {@code Cordon};
 * {@code ExitSubscriber} follows one node's exit stream, each event exactly once, across disconnects and
 * restarts, waiting out its reconnection backoff on a {@code Scheduler} (its node's, inside a node).
 * Handlers never block a transport thread. May depend on {@code service}, {@code wire} and
 * {@code proto}; a sibling of {@code transport}, which it does not use.
 */
package dev.harbor.admin;
