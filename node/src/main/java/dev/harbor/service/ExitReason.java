package dev.harbor.service;

/** How a service ended. */
public enum ExitReason {
    /** It called {@code exit} itself. */
    EXIT,
    /** Something killed it. */
    KILLED,
    /** Its init threw; the launch failed and it was never listed. */
    INIT_FAILED,
    /** Its node stopped. */
    NODE_STOPPED,
    /** Its node aborted every service. */
    ABORTED,
    /** Its node was lost; synthesised by the observers of that node, never by the node itself. */
    NODE_LOST
}
