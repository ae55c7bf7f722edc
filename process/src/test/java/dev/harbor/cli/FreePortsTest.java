package dev.harbor.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class FreePortsTest {
    @Test
    void givesDistinctFreePortsBelowTheEphemeralRange() throws IOException {
        Set<Integer> seen = new HashSet<>();
        for (int i = 0; i < 50; i++) {
            int port = FreePorts.loopback();
            assertThat(port).isBetween(FreePorts.FIRST, FreePorts.FIRST + FreePorts.COUNT - 1).isLessThan(32_768);
            assertThat(seen.add(port)).as("port %d handed out twice", port).isTrue();
            try (ServerSocket s = new ServerSocket()) {
                s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port)); // free, as promised
            }
        }
    }

    @Test
    void givesAPortFreeOnEveryAddress() throws IOException {
        int port = FreePorts.on(null);
        assertThat(port).isBetween(FreePorts.FIRST, FreePorts.FIRST + FreePorts.COUNT - 1);
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress(port)); // the wildcard address: free on every address
        }
    }

    @Test
    void skipsAPortThatIsTaken() throws IOException {
        int port = FreePorts.loopback();
        try (ServerSocket taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            for (int i = 0; i < FreePorts.COUNT; i++) { // once round the range: it comes back to the taken port
                assertThat(FreePorts.loopback()).isNotEqualTo(port);
            }
        }
    }
}
