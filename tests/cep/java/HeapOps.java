import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.PriorityQueue;
import java.util.Scanner;
import java.util.Set;

/**
 * Drives a real java.util.PriorityQueue with commands from stdin and prints the ids in its backing
 * array after each one, for tests/cep/test_java_heap.py to compare with cep.java_heap.
 *
 * <p>Items are {key, id} pairs ordered by key only (ties compare equal, as Flink's comparator of
 * partial matches by first event). Commands: "offer KEY ID", "poll", "remove ID ID ...", "clear". The array
 * is read through toArray(), which copies the backing array in order.
 */
public final class HeapOps {
    public static void main(String[] args) {
        PriorityQueue<long[]> queue = new PriorityQueue<>(Comparator.comparingLong((long[] item) -> item[0]));
        Scanner in = new Scanner(System.in);
        StringBuilder out = new StringBuilder();
        while (in.hasNextLine()) {
            String[] words = in.nextLine().trim().split(" ");
            if (words[0].equals("offer")) {
                queue.offer(new long[] {Long.parseLong(words[1]), Long.parseLong(words[2])});
            } else if (words[0].equals("clear")) {
                queue.clear();
            } else if (words[0].equals("poll")) {
                queue.poll();
            } else if (words[0].equals("remove")) {
                Set<Long> doomed = new HashSet<>();
                for (int i = 1; i < words.length; i++) {
                    doomed.add(Long.parseLong(words[i]));
                }
                List<long[]> matching = new ArrayList<>();
                for (long[] item : queue) {
                    if (doomed.contains(item[1])) {
                        matching.add(item);
                    }
                }
                queue.removeAll(matching); // what Flink's AfterMatchSkipStrategy.prune calls
            } else {
                continue;
            }
            Object[] array = queue.toArray();
            long[] ids = new long[array.length];
            for (int i = 0; i < array.length; i++) {
                ids[i] = ((long[]) array[i])[1];
            }
            out.append(Arrays.toString(ids)).append('\n');
        }
        System.out.print(out);
    }
}
