package dev.harbor.plan;

/** The roles the default plan knows; any other role name is a custom role. */
public final class Role {
    /** Drained first: stops taking clients, closes the ones it has. */
    public static final String GATEWAY = "gateway";
    /** Drained after gateways and custom roles: writes what it holds, then exits. */
    public static final String WRITER = "writer";

    private Role() {
    }

    /** Whether {@code role} is a usable role name: lower-case letters, digits, '-' and '_', 1 to 64 characters. */
    public static boolean isValid(String role) {
        return role != null && role.matches("[a-z][a-z0-9_-]{0,63}");
    }
}
