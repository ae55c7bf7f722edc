package dev.harbor.service;


/**
 * Thrown inside a service whose handler was waiting (in {@link ServiceContext#call} or
 * {@link ServiceContext#launch}) when the service was ended, or that tries to call after it ended.
 * It lets the handler unwind; nothing it returns afterwards reaches anyone.
 */
public class ServiceExitedException extends RuntimeException {
    private final ExitReason reason;

    public ServiceExitedException(Handle self, ExitReason reason) {
        super("service " + self + " has exited (" + reason + ")");
        this.reason = reason;
    }

    public ExitReason reason() {
        return reason;
    }
}
