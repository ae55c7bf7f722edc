package dev.harbor.service;

/**
 * Sends that came from another node to one service, next to each other in one frame, put into its
 * mailbox as one item: the first {@code count} of {@code messages}, in the order they came. The token
 * holder takes them one by one ({@link ServiceCell}); a service that has ended counts each as a dead
 * letter. Made by {@link InternalNode.RemoteSends}; the array is the item's alone.
 */
record Arrivals(Message[] messages, int count) {
}
