package emberwatch.flink;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.Optional;
import java.util.PriorityQueue;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.file.src.FileSource;
import org.apache.flink.connector.file.src.FileSourceSplit;
import org.apache.flink.connector.file.src.assigners.FileSplitAssigner;
import org.apache.flink.connector.file.src.reader.SimpleStreamFormat;
import org.apache.flink.connector.file.src.reader.StreamFormat;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.Path;

/**
 * A file source that reads the files of a directory in name order, oldest name first.
 *
 * <p>Flink's FileSource hands its splits out with a locality-aware assigner that keeps them in a
 * hash set, so the files found in one directory scan are read in no useful order. Live, a scan finds
 * one new file and that does not matter; but whenever files pile up (the job starts after the data,
 * restarts after a failure, or falls behind), a newer file read first moves the watermark past the
 * older ones and their readings arrive late. Shippers, the simulator among them, name files so that
 * name order is write order (a zero-padded sequence or a timestamp); digit runs compare by value, so
 * part-2 comes before part-10 too.
 *
 * <p>Each source reader asks for its next split only when it has finished the last one, so with
 * the splits handed out in order a reader's records follow file order.
 */
public final class OrderedFiles {

    private OrderedFiles() {}

    /**
     * The source for `path` (a directory or one file): read once when `monitorIntervalMs` is 0,
     * watched for new files every `monitorIntervalMs` otherwise.
     */
    public static FileSource<String> source(String path, long monitorIntervalMs) {
        FileSource.FileSourceBuilder<String> builder =
                FileSource.forRecordStreamFormat(new Lines(), new Path(path))
                        .setSplitAssigner(new InNameOrder());
        if (monitorIntervalMs > 0) {
            builder.monitorContinuously(Duration.ofMillis(monitorIntervalMs));
        }
        return builder.build();
    }

    /** Makes the assigner (a provider, since the assigner itself is rebuilt on restore). */
    public static final class InNameOrder implements FileSplitAssigner.Provider {
        private static final long serialVersionUID = 1L;

        @Override
        public FileSplitAssigner create(Collection<FileSourceSplit> initialSplits) {
            return new NameOrderAssigner(initialSplits);
        }
    }

    /** Splits waiting to be read, the one with the smallest (path, offset) handed out first. */
    static final class NameOrderAssigner implements FileSplitAssigner {
        private final PriorityQueue<FileSourceSplit> waiting = new PriorityQueue<>(SPLIT_ORDER);

        NameOrderAssigner(Collection<FileSourceSplit> splits) {
            waiting.addAll(splits);
        }

        @Override
        public Optional<FileSourceSplit> getNext(String hostname) {
            return Optional.ofNullable(waiting.poll());
        }

        @Override
        public void addSplits(Collection<FileSourceSplit> splits) {
            waiting.addAll(splits);
        }

        @Override
        public Collection<FileSourceSplit> remainingSplits() {
            ArrayList<FileSourceSplit> remaining = new ArrayList<>(waiting);
            remaining.sort(SPLIT_ORDER);
            return remaining;
        }
    }

    static final Comparator<FileSourceSplit> SPLIT_ORDER =
            Comparator.<FileSourceSplit, String>comparing(
                            split -> split.path().toString(), OrderedFiles::compareNames)
                    .thenComparingLong(FileSourceSplit::offset);

    /** Compares names with each run of digits taken as a number (leading zeros ignored). */
    static int compareNames(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            char ca = a.charAt(i);
            char cb = b.charAt(j);
            if (Character.isDigit(ca) && Character.isDigit(cb)) {
                int endA = digitsEnd(a, i);
                int endB = digitsEnd(b, j);
                int byValue = compareDigits(a.substring(i, endA), b.substring(j, endB));
                if (byValue != 0) {
                    return byValue;
                }
                i = endA;
                j = endB;
            } else {
                if (ca != cb) {
                    return Character.compare(ca, cb);
                }
                i++;
                j++;
            }
        }
        int byLength = Integer.compare(a.length() - i, b.length() - j);
        return byLength != 0 ? byLength : a.compareTo(b); // "01" and "1": still a fixed order
    }

    private static int digitsEnd(String s, int from) {
        int end = from;
        while (end < s.length() && Character.isDigit(s.charAt(end))) {
            end++;
        }
        return end;
    }

    private static int compareDigits(String a, String b) {
        String x = stripZeros(a);
        String y = stripZeros(b);
        return x.length() != y.length() ? Integer.compare(x.length(), y.length()) : x.compareTo(y);
    }

    private static String stripZeros(String digits) {
        int k = 0;
        while (k < digits.length() - 1 && digits.charAt(k) == '0') {
            k++;
        }
        return digits.substring(k);
    }

    /**
     * Lines split at '\n' (one trailing '\r' dropped), decoded as UTF-8, bad bytes as U+FFFD: the
     * lines Flink SQL's `raw` format gives the filesystem connector. Unlike Flink's text line format
     * (Java's readLine), a lone '\r' inside a line does not split it, so every input line stays one
     * record, whatever bytes it holds. Not splittable: a restore skips the records already read.
     */
    public static final class Lines extends SimpleStreamFormat<String> {
        private static final long serialVersionUID = 1L;

        @Override
        public StreamFormat.Reader<String> createReader(Configuration config, FSDataInputStream stream) {
            return new LineReader(stream);
        }

        @Override
        public TypeInformation<String> getProducedType() {
            return Types.STRING;
        }
    }

    private static final class LineReader implements StreamFormat.Reader<String> {
        private final InputStream in;
        private final byte[] buffer = new byte[1 << 16];
        private int position;
        private int limit;
        private boolean ended;
        private byte[] line = new byte[256];

        LineReader(InputStream in) {
            this.in = in;
        }

        @Override
        public String read() throws IOException {
            int length = 0;
            boolean any = false;
            while (true) {
                if (position == limit) {
                    if (ended || !fill()) {
                        return any ? decode(line, length) : null;
                    }
                }
                any = true;
                int start = position;
                while (position < limit && buffer[position] != '\n') {
                    position++;
                }
                length = append(buffer, start, position - start, length);
                if (position < limit) { // found '\n'
                    position++;
                    return decode(line, length);
                }
            }
        }

        private boolean fill() throws IOException {
            int read = in.read(buffer, 0, buffer.length);
            if (read <= 0) {
                ended = true;
                return false;
            }
            position = 0;
            limit = read;
            return true;
        }

        private int append(byte[] from, int start, int count, int length) {
            if (length + count > line.length) {
                byte[] bigger = new byte[Math.max(line.length * 2, length + count)];
                System.arraycopy(line, 0, bigger, 0, length);
                line = bigger;
            }
            System.arraycopy(from, start, line, length, count);
            return length + count;
        }

        private static String decode(byte[] bytes, int length) {
            int end = length > 0 && bytes[length - 1] == '\r' ? length - 1 : length;
            return new String(bytes, 0, end, StandardCharsets.UTF_8);
        }

        @Override
        public void close() throws IOException {
            in.close();
        }
    }
}
