package dev.harbor.plan;

import dev.harbor.shutdown.OrderedExit;

/** The roles the default plan knows; any other role name is a custom role. */
public final class Role {
    /** Drained first: stops taking clients, closes the ones it has. */
    public static final String GATEWAY = OrderedExit.GATEWAY;
    /** Drained after gateways and custom roles: writes what it holds, then exits. */
    public static final String WRITER = OrderedExit.WRITER;

    private Role() {
    }

    /** Whether {@code role} is a usable role name: lower-case letters, digits, '-' and '_', 1 to 64 characters. */
    public static boolean isValid(String role) {
        return OrderedExit.isValidRole(role);
    }
}
