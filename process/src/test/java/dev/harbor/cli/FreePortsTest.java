package dev.harbor.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class LoopbackPortsTest {
    @Test
    void givesDistinctFreePortsBelowTheEphemeralRange() throws IOException {
        Set<Integer> seen = new HashSet<>();
        for (int i = 0; i < 50; i++) {
            int port = LoopbackPorts.next();
            assertThat(port).isBetween(LoopbackPorts.FIRST, LoopbackPorts.FIRST + LoopbackPorts.COUNT - 1).isLessThan(32_768);
            assertThat(seen.add(port)).as("port %d handed out twice", port).isTrue();
            try (ServerSocket s = new ServerSocket()) {
                s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port)); // free, as promised
            }
        }
    }

    @Test
    void skipsAPortThatIsTaken() throws IOException {
        int port = LoopbackPorts.next();
        try (ServerSocket taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            for (int i = 0; i < LoopbackPorts.COUNT; i++) { // once round the range: it comes back to the taken port
                assertThat(LoopbackPorts.next()).isNotEqualTo(port);
            }
        }
    }
}
