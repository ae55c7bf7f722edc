package dev.harbor.gateway;

/**
 * One request line of the client protocol: {@code <id> <VERB> [text]}, the id a decimal number from 1
 * and the verb one word of letters, turned to upper case.
 *
 * @param id the request's id
 * @param verb the verb, upper case
 * @param text the rest of the line after one space, possibly empty
 */
record Request(long id, String verb, String text) {

    /**
     * Parses one line.
     *
     * @throws IllegalArgumentException saying what is wrong with it, for the client to read
     */
    static Request parse(String line) {
        int sp = line.indexOf(' ');
        if (sp <= 0) {
            throw new IllegalArgumentException("expected '<id> <VERB> [text]', got '" + clip(line) + "'");
        }
        long id;
        try {
            id = Long.parseLong(line, 0, sp, 10);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("the request id must be a number from 1, got '" + clip(line.substring(0, sp)) + "'");
        }
        if (id < 1) {
            throw new IllegalArgumentException("the request id must be a number from 1, got " + id);
        }
        int end = line.indexOf(' ', sp + 1);
        String verb = end < 0 ? line.substring(sp + 1) : line.substring(sp + 1, end);
        if (verb.isEmpty() || !verb.chars().allMatch(c -> (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) {
            throw new IllegalArgumentException("request " + id + ": the verb must be a word of letters, got '" + clip(verb) + "'");
        }
        return new Request(id, verb.toUpperCase(java.util.Locale.ROOT), end < 0 ? "" : line.substring(end + 1));
    }

    private static String clip(String s) {
        return s.length() <= 40 ? s : s.substring(0, 40) + "...";
    }
}
