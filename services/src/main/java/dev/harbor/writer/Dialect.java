package dev.harbor.writer;

import dev.harbor.proto.Record;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

/**
 * How the writer speaks to each database it knows: the table it creates and the statement that stores a
 * record once per {@code (stream, seq)}. Chosen from the connection's
 * {@link java.sql.DatabaseMetaData#getDatabaseProductName() product name}.
 */
public enum Dialect {
    /** Embedded or server H2 2.x: an insert-only {@code MERGE}, and commits written to the file at once. */
    H2("MERGE INTO " + Dialect.TABLE + " t USING (VALUES (CAST(? AS VARCHAR(200)), CAST(? AS BIGINT),"
            + " CAST(? AS VARCHAR(4096)))) s(stream, seq, body) ON t.stream = s.stream AND t.seq = s.seq"
            + " WHEN NOT MATCHED THEN INSERT (stream, seq, body) VALUES (s.stream, s.seq, s.body)"),
    /** PostgreSQL: {@code INSERT ... ON CONFLICT DO NOTHING}, safe against a concurrent writer too. */
    POSTGRESQL("INSERT INTO " + Dialect.TABLE + " (stream, seq, body) VALUES (?, ?, ?) ON CONFLICT (stream, seq) DO NOTHING");

    /** The table every record goes to. */
    public static final String TABLE = "harbor_records";

    private static final String CREATE = "CREATE TABLE IF NOT EXISTS " + TABLE + " (stream VARCHAR(200) NOT NULL,"
            + " seq BIGINT NOT NULL, body VARCHAR(4096) NOT NULL,"
            + " committed_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL, PRIMARY KEY (stream, seq))";

    private final String insert;

    Dialect(String insert) {
        this.insert = insert;
    }

    /**
     * The dialect of the database behind {@code connection}.
     *
     * @throws SQLException if it is neither H2 nor PostgreSQL, naming what it is
     */
    public static Dialect of(Connection connection) throws SQLException {
        String product = connection.getMetaData().getDatabaseProductName();
        return switch (product) {
            case "H2" -> H2;
            case "PostgreSQL" -> POSTGRESQL;
            default -> throw new SQLException("the writer knows H2 and PostgreSQL, not " + product
                    + ": use a jdbc:h2: or jdbc:postgresql: URL");
        };
    }

    /**
     * Readies a fresh connection: manual commits, the table created if missing, and on H2 every commit
     * written to the file when it returns ({@code WRITE_DELAY 0}; H2's default writes up to 500 ms
     * later, so a process killed just after an acknowledgement would lose acknowledged records).
     */
    public void prepare(Connection connection) throws SQLException {
        connection.setAutoCommit(false);
        try (Statement s = connection.createStatement()) {
            s.execute(CREATE);
            if (this == H2) {
                s.execute("SET WRITE_DELAY 0");
            }
        }
        connection.commit();
    }

    /**
     * Every record stored in {@value #TABLE} over {@code connection}, ordered by stream and seq: what a
     * zero-loss check compares the acknowledged records with. Works on either database.
     */
    public static List<Record> stored(Connection connection) throws SQLException {
        List<Record> out = new ArrayList<>();
        try (Statement s = connection.createStatement();
                ResultSet rs = s.executeQuery("SELECT stream, seq, body FROM " + TABLE + " ORDER BY stream, seq")) {
            while (rs.next()) {
                out.add(Record.newBuilder().setStream(rs.getString(1)).setSeq(rs.getLong(2)).setBody(rs.getString(3)).build());
            }
        }
        return out;
    }

    /** The statement with parameters (stream, seq, body) that stores a record unless it is stored already. */
    public String insert() {
        return insert;
    }
}
