// Test driver (mono): builds a request with ZpipeHook, runs the real zpipe CLI, reads the answer with the
// same answer classes as the editor script, and runs the postprocessor on each returned file.
// Usage: mono harness.exe ZPIPE_CLI TARGET STORE  -> prints "result NAME STATUS" and "map ROLE PATH TYPE SRGB WRAP".
using System;
using System.Collections.Generic;
using System.Reflection;
using UnityEditor;
using Zpipe.Editor;

public static class Harness
{
    public static int Main(string[] args)
    {
        var mats = new List<string> {
            ZpipeHook.MaterialJson("Stone \"A\"", "granite", null, 64, -1),
            ZpipeHook.MaterialJson("Bricks", null, "red brick wall", 64, 5),
        };
        string request = ZpipeHook.RequestJson(args[1], args[2], "procedural", mats);
        Console.WriteLine("request " + request);
        string stdout, stderr;
        int code = ZpipeHook.Run(args[0], request, 300, out stdout, out stderr);
        Console.WriteLine("exit " + code);
        var answer = UnityEngine.JsonUtility.FromJson<ZpipeAnswer>(stdout);
        Console.WriteLine("answer " + answer.version + " " + answer.ok);
        var pre = typeof(ZpipeTexturePostprocessor).GetMethod("OnPreprocessTexture", BindingFlags.Instance | BindingFlags.NonPublic);
        foreach (var r in answer.results)
        {
            Console.WriteLine("result " + r.name + "|" + r.status);
            foreach (var m in r.maps)
            {
                string assetPath = "Assets/ZpipeTextures/" + System.IO.Path.GetFileName(r.folder) + "/" + System.IO.Path.GetFileName(m.path);
                var importer = new TextureImporter();
                var post = new ZpipeTexturePostprocessor { assetPath = assetPath, assetImporter = importer };
                pre.Invoke(post, null);
                Console.WriteLine("map " + m.role + "|" + m.path + "|" + m.colour_space + "|" + importer.textureType + "|" +
                                  importer.sRGBTexture + "|" + importer.wrapMode);
            }
        }
        return 0;
    }
}
