package dev.harbor.service;

/** A service that could not be launched: its factory or its init threw, or the node refused it. */
public class LaunchException extends RuntimeException {
    public LaunchException(String message, Throwable cause) {
        super(message, cause);
    }
}
